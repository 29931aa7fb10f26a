#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz::elementary::mkv_input(data));
