#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz::rtsp_server::rtsp_server_requests(data));
