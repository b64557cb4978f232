//! `cargo fuzz run forwarded_for`: see `doorward::fuzzing::forwarded_for` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| doorward::fuzzing::forwarded_for(data));
