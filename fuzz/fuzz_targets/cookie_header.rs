//! `cargo fuzz run cookie_header`: see `doorward::fuzzing::cookie_header` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| doorward::fuzzing::cookie_header(data));
