//! Request checks every backend applies before touching state, so that
//! they all answer malformed requests alike (design I7).

use crate::error::{InvalidRequest, InventoryError, Result};
use crate::ids::{PaymentRef, SeatId, ShowId};

/// Checks a seat list: not empty, no duplicates, within the show and the
/// per-request maximum. Returns the seats sorted ascending.
pub fn seats(show: ShowId, seats: &[SeatId], seat_count: usize, max_per_request: u32) -> Result<Vec<SeatId>> {
    if seats.is_empty() {
        return Err(InvalidRequest::NoSeats.into());
    }
    if seats.len() > max_per_request as usize {
        return Err(InvalidRequest::TooMany {
            requested: seats.len().min(u32::MAX as usize) as u32,
            max: max_per_request,
        }
        .into());
    }
    let mut sorted = seats.to_vec();
    sorted.sort_unstable();
    if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
        return Err(InvalidRequest::DuplicateSeat(w[0]).into());
    }
    if let Some(&seat) = seats.iter().find(|s| s.0 as usize >= seat_count) {
        return Err(InventoryError::UnknownSeat { show, seat });
    }
    Ok(sorted)
}

/// [`seats`], borrowing the list when it is already sorted and unique
/// (as every token's list is), so the common case allocates nothing.
pub fn seats_cow(
    show: ShowId,
    list: &[SeatId],
    seat_count: usize,
    max_per_request: u32,
) -> Result<std::borrow::Cow<'_, [SeatId]>> {
    let in_order = list.windows(2).all(|w| w[0] < w[1]);
    let fits = list.last().is_some_and(|s| (s.0 as usize) < seat_count) && list.len() <= max_per_request as usize;
    if in_order && fits {
        Ok(std::borrow::Cow::Borrowed(list))
    } else {
        seats(show, list, seat_count, max_per_request).map(std::borrow::Cow::Owned)
    }
}

/// Checks a quantity: at least 1, at most the per-request maximum.
pub fn quantity(quantity: u32, max_per_request: u32) -> Result<()> {
    if quantity == 0 {
        Err(InvalidRequest::ZeroQuantity.into())
    } else if quantity > max_per_request {
        Err(InvalidRequest::TooMany { requested: quantity, max: max_per_request }.into())
    } else {
        Ok(())
    }
}

/// Checks a payment reference: 1 to 256 bytes.
pub fn payment(payment: &PaymentRef) -> Result<()> {
    if payment.0.is_empty() || payment.0.len() > 256 { Err(InvalidRequest::BadPaymentRef.into()) } else { Ok(()) }
}
