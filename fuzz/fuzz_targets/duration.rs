//! `cargo fuzz run duration`: see `doorward::fuzzing::duration` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| doorward::fuzzing::duration(data));
