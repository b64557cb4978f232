//! `cargo fuzz run next_param`: see `doorward::fuzzing::next_param` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| doorward::fuzzing::next_param(data));
