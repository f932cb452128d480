//! Issuing and reissuing tickets.

use super::codec::{self, TicketClaims, TicketItem};
use super::keys::SigningKeyring;
use super::rotation::{RotationKey, RotationPolicy, RotationSecret};
use super::{TicketError, TicketId};
use crate::OwnerId;
use crate::inventory::{HoldItems, Sale, SaleRecord};

/// The most tickets one sale is issued (a pool sale of more units is
/// refused rather than allocated).
const MAX_SALE_TICKETS: u64 = 100_000;

/// Signs tickets with the current key of its keyring.
#[derive(Debug)]
pub struct TicketIssuer {
    keys: SigningKeyring,
}

/// A signed ticket, as handed to its holder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedTicket {
    /// What it says.
    pub claims: TicketClaims,
    /// The signed text (base64url), without a rotating code.
    pub signed: String,
    /// For a rotating ticket: the secret the holder's phone makes codes
    /// with. Delivered with the ticket, never printed in the QR code.
    pub rotation: Option<RotationSecret>,
}

impl IssuedTicket {
    /// The text to show as a QR code at Unix time `now_millis` (the
    /// phone's clock): the signed text, and for a rotating ticket the code
    /// of the current step.
    pub fn qr_text(&self, policy: &RotationPolicy, now_millis: i64) -> String {
        match &self.rotation {
            None => self.signed.clone(),
            Some(secret) => codec::with_code(&self.signed, &secret.code(policy.step_at(now_millis))),
        }
    }
}

impl TicketIssuer {
    /// An issuer signing with `keys`' current key.
    pub fn new(keys: SigningKeyring) -> Self {
        TicketIssuer { keys }
    }

    /// The keyring, to rotate keys or publish the public ones.
    pub fn keys(&self) -> &SigningKeyring {
        &self.keys
    }

    /// The keyring, mutably (to rotate keys).
    pub fn keys_mut(&mut self) -> &mut SigningKeyring {
        &mut self.keys
    }

    /// Signs a ticket saying `claims` (its `key` is set to the current
    /// key's id). A rotating ticket (`claims.rotating`) needs the show's
    /// rotation key, from which its holder's secret is derived.
    ///
    /// Errors: [`TicketError::ZeroVersion`], [`TicketError::NoRotationKey`].
    pub fn issue(&self, claims: &TicketClaims, rotation: Option<&RotationKey>) -> Result<IssuedTicket, TicketError> {
        claims.validate()?;
        let claims = TicketClaims { key: self.keys.current(), ..*claims };
        let secret = match (claims.rotating, rotation) {
            (false, _) => None,
            (true, Some(key)) => Some(key.secret(claims.ticket, claims.version)),
            (true, None) => return Err(TicketError::NoRotationKey),
        };
        let body = claims.encode_body();
        let signature = self.keys.sign(&body)?;
        Ok(IssuedTicket { claims, signed: codec::signed_text(&body, &signature), rotation: secret })
    }

    /// The tickets of a sale: one per seat, or one per unit of a pool
    /// sale, version 1, held by the buyer. Ticket ids derive from the order
    /// and the item ([`TicketId::for_item`]), so issuing the same sale
    /// again gives tickets with the same ids (and, signed by the same key,
    /// the same texts).
    ///
    /// Errors: [`TicketError::SaleSize`] for an empty sale or more than
    /// 100,000 units; [`TicketError::NoRotationKey`].
    pub fn issue_sale(
        &self,
        sale: &SaleRecord,
        rotation: Option<&RotationKey>,
    ) -> Result<Vec<IssuedTicket>, TicketError> {
        self.issue_for(&sale.sale, rotation)
    }

    /// [`Self::issue_sale`] from the sale alone (as a checkout receipt
    /// carries it), without the record's token and payment, which tickets
    /// do not name.
    pub fn issue_for(&self, s: &Sale, rotation: Option<&RotationKey>) -> Result<Vec<IssuedTicket>, TicketError> {
        let items: Vec<(TicketItem, u32)> = match &s.items {
            HoldItems::Seats(seats) => seats.iter().map(|seat| (TicketItem::Seat(*seat), 0)).collect(),
            HoldItems::Pool { pool, quantity } => {
                if u64::from(*quantity) > MAX_SALE_TICKETS {
                    return Err(TicketError::SaleSize(u64::from(*quantity)));
                }
                (0..*quantity).map(|unit| (TicketItem::Pool(*pool), unit)).collect()
            }
        };
        if items.is_empty() || items.len() as u64 > MAX_SALE_TICKETS {
            return Err(TicketError::SaleSize(items.len() as u64));
        }
        items
            .into_iter()
            .map(|(item, unit)| {
                let claims = TicketClaims {
                    ticket: TicketId::for_item(s.order, item, unit),
                    show: s.show,
                    order: s.order,
                    holder: s.owner,
                    item,
                    version: 1,
                    key: self.keys.current(),
                    rotating: rotation.is_some(),
                };
                self.issue(&claims, rotation)
            })
            .collect()
    }

    /// The next version of a ticket, held by `holder` (a transfer or a
    /// resale; the same holder for a replacement). Register it with the
    /// check-in store, which then refuses the older version, and scanners
    /// learn of it at their next sync.
    ///
    /// Errors: [`TicketError::VersionExhausted`],
    /// [`TicketError::NoRotationKey`].
    pub fn reissue(
        &self,
        previous: &TicketClaims,
        holder: OwnerId,
        rotation: Option<&RotationKey>,
    ) -> Result<IssuedTicket, TicketError> {
        let version = previous.version.checked_add(1).ok_or(TicketError::VersionExhausted(previous.ticket))?;
        self.issue(&TicketClaims { version, holder, ..*previous }, rotation)
    }
}
