//! `cargo fuzz run access_token`: see `doorward::fuzzing::access_token` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| doorward::fuzzing::access_token(data));
