#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz::elementary::annexb_input(data));
