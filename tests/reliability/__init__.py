"""Issue #6, reliability: crashes, contention, cancellation, corruption, bad input, and
stateful comparison with LangGraph's reference saver."""
