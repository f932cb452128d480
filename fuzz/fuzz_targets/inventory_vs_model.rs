//! Arbitrary inventory requests, forged tokens and absurd numbers on the
//! memory backend and the reference model side by side (see
//! `booking_fuzz::inventory`). Taking the decoded scenario lets
//! `cargo fuzz fmt` print an input as a show and its operations.
#![no_main]

use booking_fuzz::inventory::Scenario;

libfuzzer_sys::fuzz_target!(|scenario: Scenario| scenario.run());
