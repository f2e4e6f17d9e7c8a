"""Reading and writing files: NWB recordings, MNIST, lab formats, result tables."""
