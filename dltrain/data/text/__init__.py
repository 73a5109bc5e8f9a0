"""Text data: tokenisers, corpora, language modelling, translation, sentence pairs, text classification."""
