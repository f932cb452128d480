//! iCalendar (RFC 5545) for a ticket: one `VEVENT` a calendar application
//! adds with a tap.
//!
//! Written by hand, it is small: text values escaped (section 3.3.11),
//! lines ended by CRLF and folded at 75 octets without splitting a UTF-8
//! character (3.1), times in UTC (`19971224T170000Z`, 3.3.5), a `UID` that
//! stays the same for the ticket so that a message sent twice updates the
//! entry instead of adding a second one.

use super::TicketNotice;
use chrono::{DateTime, Utc};

/// The longest line, in octets, excluding its CRLF.
pub const MAX_LINE_OCTETS: usize = 75;

/// The product identifier written as `PRODID`.
pub const PRODUCT_ID: &str = "-//booking//ticket delivery//EN";

/// The calendar (`text/calendar`, `METHOD:PUBLISH`) for the ticket; its
/// `UID` is `<ticket_id>@<uid_domain>`.
pub fn calendar(notice: &TicketNotice, uid_domain: &str) -> String {
    let mut description = format!("Seat: {}\nTicket: {}", notice.seat, notice.ticket_id);
    if let Some(name) = &notice.holder_name {
        description.push_str(&format!("\nHolder: {name}"));
    }
    let mut out = String::new();
    for line in [
        "BEGIN:VCALENDAR".to_owned(),
        "VERSION:2.0".to_owned(),
        format!("PRODID:{PRODUCT_ID}"),
        "CALSCALE:GREGORIAN".to_owned(),
        "METHOD:PUBLISH".to_owned(),
        "BEGIN:VEVENT".to_owned(),
        format!("UID:{}", escape_text(&format!("{}@{}", notice.ticket_id, uid_domain))),
        format!("DTSTAMP:{}", utc(notice.issued_at)),
        format!("DTSTART:{}", utc(notice.starts_at)),
        format!("DTEND:{}", utc(notice.ends_at)),
        format!("SUMMARY:{}", escape_text(&notice.show_title)),
        format!("LOCATION:{}", escape_text(&notice.venue)),
        format!("DESCRIPTION:{}", escape_text(&description)),
        "STATUS:CONFIRMED".to_owned(),
        "TRANSP:OPAQUE".to_owned(),
        "END:VEVENT".to_owned(),
        "END:VCALENDAR".to_owned(),
    ] {
        fold_into(&line, &mut out);
    }
    out
}

/// A date-time in UTC, RFC 5545 form (`20261231T193000Z`).
pub fn utc(at: DateTime<Utc>) -> String {
    at.format("%Y%m%dT%H%M%SZ").to_string()
}

/// Escapes a TEXT value: backslash, semicolon and comma get a backslash,
/// line breaks (CRLF, LF or CR) become `\n`, and other control characters
/// (which TEXT may not hold) are dropped; tabs are kept.
pub fn escape_text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push_str("\\n");
            }
            '\n' => out.push_str("\\n"),
            '\t' => out.push('\t'),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Appends `line` to `out`, folded so that no line is longer than
/// [`MAX_LINE_OCTETS`] (a continuation line starts with one space, which
/// counts), each ended by CRLF. A UTF-8 character is never split.
pub fn fold_into(line: &str, out: &mut String) {
    let mut room = MAX_LINE_OCTETS;
    let mut used = 0;
    for c in line.chars() {
        let len = c.len_utf8();
        if used + len > room {
            out.push_str("\r\n ");
            room = MAX_LINE_OCTETS - 1;
            used = 0;
        }
        out.push(c);
        used += len;
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folded(line: &str) -> String {
        let mut out = String::new();
        fold_into(line, &mut out);
        out
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(escape_text("a,b;c\\d"), "a\\,b\\;c\\\\d");
        assert_eq!(escape_text("one\r\ntwo\nthree\rfour"), "one\\ntwo\\nthree\\nfour");
        assert_eq!(escape_text("bell\u{7}\ttab"), "bell\ttab");
        assert_eq!(escape_text("END:VEVENT"), "END:VEVENT");
    }

    #[test]
    fn an_injected_line_break_stays_inside_the_value() {
        let line = format!("SUMMARY:{}", escape_text("Gig\r\nEND:VEVENT\r\nBEGIN:VEVENT"));
        let out = folded(&line);
        assert_eq!(out.matches("\r\n").count(), 1, "{out:?}");
    }

    #[test]
    fn short_lines_are_not_folded() {
        assert_eq!(folded("VERSION:2.0"), "VERSION:2.0\r\n");
        let exact = "X".repeat(75);
        assert_eq!(folded(&exact), format!("{exact}\r\n"));
    }

    #[test]
    fn long_lines_fold_at_75_octets() {
        let line = format!("DESCRIPTION:{}", "x".repeat(300));
        let out = folded(&line);
        for l in out.split("\r\n").filter(|l| !l.is_empty()) {
            assert!(l.len() <= 75, "{} octets: {l:?}", l.len());
        }
        let first = out.split("\r\n").next().unwrap_or_default();
        assert_eq!(first.len(), 75);
        assert_eq!(out.replace("\r\n ", ""), format!("{line}\r\n"));
    }

    #[test]
    fn folding_never_splits_a_character() {
        // 74 octets, then a 4-octet character that would cross octet 75:
        // it moves whole to the continuation line.
        let line = format!("SUMMARY:{}😀", "x".repeat(66));
        let out = folded(&line);
        let first = out.split("\r\n").next().unwrap_or_default();
        assert_eq!(first.len(), 74);
        assert!(out.starts_with(&format!("{first}\r\n 😀")), "{out:?}");

        let line = format!("SUMMARY:{}", "é€😀".repeat(40));
        let out = folded(&line);
        for l in out.split("\r\n") {
            assert!(l.len() <= 75, "{} octets", l.len());
        }
        assert_eq!(out.replace("\r\n ", ""), format!("{line}\r\n"));
    }

    #[test]
    fn times_are_utc() {
        let at = DateTime::parse_from_rfc3339("2026-12-31T19:30:00+02:00").map(|t| t.with_timezone(&Utc));
        assert_eq!(at.map(utc).ok().as_deref(), Some("20261231T173000Z"));
    }
}
