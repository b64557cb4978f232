//! `cargo fuzz run json_body`: see `doorward::fuzzing::json_body` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| doorward::fuzzing::json_body(data));
