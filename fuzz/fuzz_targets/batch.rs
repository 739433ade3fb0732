#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gregor_fuzz::batch(data));
