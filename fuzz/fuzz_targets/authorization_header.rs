//! `cargo fuzz run authorization_header`: see `doorward::fuzzing::authorization_header` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| doorward::fuzzing::authorization_header(data));
