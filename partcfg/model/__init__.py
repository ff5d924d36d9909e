"""Model layer, the second step of the flow: loaded YAML -> typed models -> assembled systems."""
