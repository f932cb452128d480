-- Tickets: the check-in store. One row per (show, ticket): the ticket's
-- current version and holder (registered at issue and at each reissue),
-- and its admission once checked in. Times are Unix milliseconds read from
-- booking.clock_ms() or passed in by an injected clock, as elsewhere.

CREATE TABLE booking.tickets (
    show             uuid   NOT NULL,
    ticket           uuid   NOT NULL,
    version          bigint NOT NULL CHECK (version BETWEEN 1 AND 4294967295),
    holder           uuid   NOT NULL,
    admitted_version bigint,
    admitted_at      bigint,
    admitted_device  text CHECK (octet_length(admitted_device) BETWEEN 1 AND 64),
    admitted_gate    text CHECK (octet_length(admitted_gate) BETWEEN 1 AND 64),
    PRIMARY KEY (show, ticket),
    CHECK ((admitted_at IS NULL) = (admitted_version IS NULL)
       AND (admitted_at IS NULL) = (admitted_device IS NULL)
       AND (admitted_at IS NULL) = (admitted_gate IS NULL))
);

-- The revocation list of a show: its reissued tickets.
CREATE INDEX tickets_reissued ON booking.tickets (show, ticket) WHERE version > 1;
