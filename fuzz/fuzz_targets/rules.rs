#![no_main]
// The harness and its oracle are canon::fuzzing::rules (tests/fuzz_corpus.rs replays the corpus).
libfuzzer_sys::fuzz_target!(|data: &[u8]| canon::fuzzing::rules(data));
