"""What every family shares: corpus loading, the vocabulary, streaming, the training loop, several
processes, the output folder (checks, lock, file-by-file write, resume), publishing and arguments."""
