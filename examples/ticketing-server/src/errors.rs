//! The library's typed errors as API problems: one mapping per port.

use crate::problem::ApiError;
use axum::http::StatusCode;
use booking_core::admission::AdmissionError;
use booking_core::catalog::CatalogError;
use booking_core::checkout::{CheckoutError, StoreError};
use booking_core::idempotency::IdempotencyError;
use booking_core::limits::Refused;
use booking_core::{InvalidRequest, InventoryError, Limit};

impl From<InventoryError> for ApiError {
    fn from(e: InventoryError) -> Self {
        use InventoryError as E;
        let detail = e.to_string();
        let (status, code) = match &e {
            E::InvalidRequest(InvalidRequest::TokenMismatch) => (StatusCode::CONFLICT, "hold_changed"),
            E::InvalidRequest(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
            E::UnknownShow(_) => return ApiError::not_found("show"),
            E::ShowExists(_) => (StatusCode::CONFLICT, "exists"),
            E::UnknownSeat { .. } | E::UnknownPool { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "unknown_seat"),
            E::SeatsTaken { .. } => (StatusCode::CONFLICT, "seats_taken"),
            E::InsufficientCapacity { .. } | E::NoSeatsAvailable { .. } => (StatusCode::CONFLICT, "no_seats_available"),
            E::HoldExpired { .. } => (StatusCode::GONE, "hold_expired"),
            // Another user's hold: answered as if it did not exist.
            E::NotOwner { .. } => return ApiError::not_found("hold"),
            E::StaleToken { .. } => (StatusCode::CONFLICT, "hold_changed"),
            E::LimitExceeded(Limit::HeldPerOwner { .. }) => (StatusCode::CONFLICT, "hold_limit"),
            E::LimitExceeded(_) => (StatusCode::CONFLICT, "extension_limit"),
            E::NotSold { .. } | E::SaleConflict { .. } | E::WrongState { .. } => (StatusCode::CONFLICT, "wrong_state"),
            _ => return ApiError::unavailable(detail),
        };
        ApiError::new(status, code, detail)
    }
}

impl From<CatalogError> for ApiError {
    fn from(e: CatalogError) -> Self {
        use CatalogError as E;
        let detail = e.to_string();
        match &e {
            E::Invalid(_) => ApiError::invalid(detail),
            E::UnknownVenue(_) => ApiError::not_found("venue"),
            E::UnknownEvent(_) => ApiError::not_found("event"),
            E::UnknownShow(_) => ApiError::not_found("show"),
            E::Exists { .. } => ApiError::new(StatusCode::CONFLICT, "exists", detail),
            E::Conflict { .. } => ApiError::new(StatusCode::CONFLICT, "version_conflict", detail),
            E::Archived { .. } => ApiError::new(StatusCode::CONFLICT, "archived", detail),
            _ => ApiError::unavailable(detail),
        }
    }
}

impl From<AdmissionError> for ApiError {
    fn from(e: AdmissionError) -> Self {
        use AdmissionError as E;
        let detail = e.to_string();
        match &e {
            E::InvalidConfig { .. } | E::InvalidSession => ApiError::invalid(detail),
            E::UnknownRoom(_) => ApiError::new(StatusCode::NOT_FOUND, "no_waiting_room", detail),
            E::UnknownVisitor(_) => ApiError::new(StatusCode::NOT_FOUND, "not_in_queue", "join the queue first"),
            E::Closed(_) => ApiError::new(StatusCode::CONFLICT, "queue_closed", detail),
            E::NotAdmitted(_) => ApiError::new(StatusCode::FORBIDDEN, "not_admitted", detail),
            E::Token(_) => ApiError::new(StatusCode::FORBIDDEN, "admission_required", detail),
            E::RoomExists(_) => ApiError::new(StatusCode::CONFLICT, "exists", detail),
            E::SessionMismatch => ApiError::not_found("visitor"),
            _ => ApiError::unavailable(detail),
        }
    }
}

impl From<Refused> for ApiError {
    fn from(e: Refused) -> Self {
        match e {
            Refused::Blacklisted(_) => ApiError::forbidden("this account or address may not buy"),
            Refused::RateLimited { retry_after, .. } => ApiError::rate_limited(retry_after),
            other => ApiError::unavailable(other),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::unavailable(e)
    }
}

impl From<CheckoutError> for ApiError {
    fn from(e: CheckoutError) -> Self {
        match e {
            CheckoutError::Idempotency(IdempotencyError::Mismatch) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "this Idempotency-Key was used with a different request; use a new key",
            ),
            CheckoutError::Idempotency(IdempotencyError::InProgress { retry_after }) => {
                let mut e = ApiError::new(
                    StatusCode::CONFLICT,
                    "request_in_progress",
                    "a request with this Idempotency-Key is in progress; retry it later",
                );
                e.retry_after = Some(retry_after);
                e
            }
            CheckoutError::Idempotency(IdempotencyError::InvalidKey) => {
                ApiError::bad_request("Idempotency-Key must be 1 to 255 bytes")
            }
            CheckoutError::Pending { order } => {
                let mut e = ApiError::new(
                    StatusCode::ACCEPTED,
                    "order_pending",
                    format!("order {order} is in progress; send the same request again later"),
                );
                e.retry_after = Some(std::time::Duration::from_secs(2));
                e
            }
            CheckoutError::Inventory(e) => e.into(),
            other => ApiError::unavailable(other),
        }
    }
}
