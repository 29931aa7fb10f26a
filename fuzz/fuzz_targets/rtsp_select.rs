#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz::rtsp::rtsp_select(data));
