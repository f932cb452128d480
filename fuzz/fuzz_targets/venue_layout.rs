//! Show specifications and venue layouts from arbitrary JSON and numbers,
//! validated and created on the memory backend and the reference model
//! (see `booking_fuzz::venue`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| booking_fuzz::venue::run(data));
