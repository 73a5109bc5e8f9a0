"""Tables of numbers: scikit-learn's bundled sets and the notes' time series."""
