#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz::ts::ts_input(data));
