//! The evaluation engine: a forward pass on candle-core (CPU, CUDA) returning logits for every
//! position, perplexity and KL divergence as llama-perplexity computes them.
