module ggufkit/tests/ollama_template

go 1.19
