#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz::ts::stream_input(data));
