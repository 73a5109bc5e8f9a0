"""Sequence models of the notes: recurrent networks (RNN, GRU, LSTM; from scratch and cuDNN-backed),
the temporal convolutional network, and the autoregressive MLP for time series.

Language models map token ids (B, T) to next-token logits (B, T, vocab) and
may look at positions <= t only; time-series regressors map a window of the
past (B, tau) to the next value (B,).
"""
