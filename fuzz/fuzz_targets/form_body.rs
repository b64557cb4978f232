//! `cargo fuzz run form_body`: see `doorward::fuzzing::form_body` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| doorward::fuzzing::form_body(data));
