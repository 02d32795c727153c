//! The chat-template families we can write an Ollama `TEMPLATE` for: how each family's Jinja
//! `chat_template` is recognised, and the Go template that renders the same prompt.
//!
//! One table, data only ([`FAMILIES`]); [`family_for`] picks the first entry whose markers all
//! occur in the model's Jinja template and none of whose rejects do, so more specific entries come
//! first. Each Go template follows Ollama's conventions (its `template.Execute`): `.Messages` holds
//! every message (system ones too), `.System` the system messages joined; the last message, when it
//! is the user's, gets the generation prompt, and when it is the assistant's it is left open so the
//! model continues it (transformers' `continue_final_message`). llama.cpp adds the BOS token itself
//! when the GGUF says `add_bos_token`, so the templates leave out the leading BOS the Jinja
//! templates print; `@BOS@` and `@EOS@` stand for the GGUF's BOS and EOS token texts where a
//! template needs them inside the prompt (see [`crate::convert::modelfile`]).
//!
//! `tests/chat_templates.rs` renders every template here with Go's `text/template` the way Ollama
//! does and each family's public Jinja templates (`tests/fixtures/chat-templates/`) with
//! transformers' `apply_chat_template`, and requires identical prompts. What Go templates cannot
//! do is left out and said in `docs/modelfile.md`: trimming message text (Llama 2/3, Gemma strip
//! whitespace around messages), tool calls, and SmolLM3's `/think` flags inside the system text.

/// One chat-template family.
#[derive(Debug)]
pub struct ChatFamily {
    /// Short name, shown in the convert summary (`llama3`, `chatml`, …).
    pub name: &'static str,
    /// Models whose Jinja templates this family covers (for the docs and messages).
    pub models: &'static str,
    /// Substrings that all occur in the family's Jinja templates.
    pub markers: &'static [&'static str],
    /// Substrings that rule the family out (they mark a more specific or different family).
    pub rejects: &'static [&'static str],
    /// The Ollama Go template (`@BOS@`/`@EOS@`: the GGUF's BOS/EOS token texts).
    pub template: &'static str,
    /// Turn-end tokens the template closes turns with: Ollama stop strings besides EOS/EOT.
    pub stops: &'static [&'static str],
}

/// The `$last` idiom: whether the message at `$i` of `$.Messages` is the last one.
macro_rules! last_of_messages {
    () => {
        "{{- $last := eq (len (slice $.Messages $i)) 1 }}"
    };
}

/// ChatML turns (`<|im_start|>role\n…<|im_end|>\n`), the body shared by ChatML and Qwen 2.5.
macro_rules! chatml_turns {
    () => {
        concat!(
            "{{- range $i, $_ := .Messages }}\n",
            last_of_messages!(),
            "<|im_start|>{{ .Role }}\n",
            "{{ .Content }}{{ if not (and $last (eq .Role \"assistant\")) }}<|im_end|>\n",
            "{{ end }}{{ if and $last (ne .Role \"assistant\") }}<|im_start|>assistant\n",
            "{{ end }}\n",
            "{{- end }}"
        )
    };
}

/// Llama 3 turns over `$msgs` (all messages, or those after Llama 3.1's system block).
macro_rules! llama3_turns {
    () => {
        concat!(
            "{{- range $i, $_ := $msgs }}\n",
            "{{- $last := eq (len (slice $msgs $i)) 1 -}}\n",
            "<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n",
            "{{ .Content }}{{ if not (and $last (eq .Role \"assistant\")) }}<|eot_id|>{{ end }}\n",
            "{{- if and $last (ne .Role \"assistant\") }}<|start_header_id|>assistant<|end_header_id|>\n\n",
            "{{ end }}\n",
            "{{- end }}"
        )
    };
}

/// Gemma turns (`<start_of_turn>user|model\n…<end_of_turn>\n`), the system prompt before the
/// first user message as Gemma 3 does (Gemma 1/2's Jinja templates refuse a system message).
const GEMMA: &str = concat!(
    "{{- range $i, $_ := .Messages }}\n",
    last_of_messages!(),
    "\n{{- if eq .Role \"user\" }}<start_of_turn>user\n",
    "{{ if and $.System (eq $i 1) }}{{ $.System }}\n\n",
    "{{ end }}{{ .Content }}<end_of_turn>\n",
    "{{ else if eq .Role \"assistant\" }}<start_of_turn>model\n",
    "{{ .Content }}{{ if not $last }}<end_of_turn>\n",
    "{{ end }}\n",
    "{{- end }}\n",
    "{{- if and $last (ne .Role \"assistant\") }}<start_of_turn>model\n",
    "{{ end }}\n",
    "{{- end }}"
);

/// SmolLM3's default system text in thinking mode (from its chat template).
macro_rules! smollm3_think_system {
    () => {
        "You are a helpful AI assistant named SmolLM, trained by Hugging Face. Your role as an assistant involves thoroughly exploring questions through a systematic thinking process before providing the final precise and accurate solutions. This requires engaging in a comprehensive cycle of analysis, summarizing, exploration, reassessment, reflection, backtracking, and iteration to develop well-considered thinking process. Please structure your response into two main sections: Thought and Solution using the specified format: <think> Thought section </think> Solution section. In the Thought section, detail your reasoning process in steps. Each step should include detailed considerations such as analysing questions, summarizing relevant findings, brainstorming new ideas, verifying the accuracy of the current steps, refining any errors, and revisiting previous steps. In the Solution section, based on various attempts, explorations, and reflections from the Thought section, systematically present the final solution that you deem correct. The Solution section should be logical, accurate, and concise and detail necessary steps needed to reach the conclusion."
    };
}

/// The families, most specific first.
pub const FAMILIES: &[ChatFamily] = &[
    ChatFamily {
        name: "smollm3",
        models: "SmolLM3",
        markers: &["<|im_start|>", "Reasoning Mode", "/no_think"],
        rejects: &[],
        template: concat!(
            "{{- $think := not (and $.IsThinkSet (not $.Think)) -}}\n",
            "<|im_start|>system\n## Metadata\n\nKnowledge Cutoff Date: June 2025\n",
            "Reasoning Mode: {{ if $think }}/think{{ else }}/no_think{{ end }}\n\n## Custom Instructions\n\n",
            "{{ if and .Messages (eq (index .Messages 0).Role \"system\") (index .Messages 0).Content }}{{ (index .Messages 0).Content }}\n\n",
            "{{ else if $think }}",
            smollm3_think_system!(),
            "\n\n{{ else }}You are a helpful AI assistant named SmolLM, trained by Hugging Face.\n\n",
            "{{ end }}<|im_end|>\n",
            "{{ range $i, $_ := .Messages }}\n",
            last_of_messages!(),
            "\n{{- if or (eq .Role \"user\") (eq .Role \"tool\") }}<|im_start|>user\n",
            "{{ .Content }}<|im_end|>\n",
            "{{ else if eq .Role \"assistant\" }}<|im_start|>assistant\n",
            "{{ if not $think }}<think>\n\n</think>\n{{ end }}{{ .Content }}{{ if not $last }}<|im_end|>\n",
            "{{ end }}\n",
            "{{- end }}\n",
            "{{- if and $last (ne .Role \"assistant\") }}<|im_start|>assistant\n",
            "{{ if not $think }}<think>\n\n</think>\n{{ end }}{{ end }}\n",
            "{{- end }}"
        ),
        stops: &["<|im_end|>"],
    },
    ChatFamily {
        name: "qwen2.5",
        models: "Qwen2.5 instruct models (ChatML with Qwen's default system prompt)",
        markers: &["<|im_start|>", "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."],
        rejects: &["<think>"],
        template: concat!(
            "{{- if or (not .Messages) (ne (index .Messages 0).Role \"system\") }}<|im_start|>system\n",
            "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n",
            "{{ end }}\n",
            chatml_turns!()
        ),
        stops: &["<|im_end|>"],
    },
    ChatFamily {
        name: "phi4",
        models: "Phi-4",
        markers: &["<|im_start|>", "<|im_sep|>"],
        rejects: &[],
        template: concat!(
            "{{- range $i, $_ := .Messages }}\n",
            last_of_messages!(),
            "\n{{- if eq .Role \"system\" }}<|im_start|>system<|im_sep|>{{ .Content }}<|im_end|>\n",
            "{{- else if eq .Role \"user\" }}<|im_start|>user<|im_sep|>{{ .Content }}<|im_end|><|im_start|>assistant<|im_sep|>\n",
            "{{- else if eq .Role \"assistant\" }}{{ .Content }}{{ if not $last }}<|im_end|>{{ end }}\n",
            "{{- end }}\n",
            "{{- end }}"
        ),
        stops: &["<|im_end|>"],
    },
    ChatFamily {
        name: "chatml",
        models: "ChatML models (OpenHermes, Qwen fine-tunes, SmolLM2, …) without a default system prompt",
        markers: &["<|im_start|>", "<|im_end|>"],
        rejects: &["You are", "<think>", "tools"],
        template: chatml_turns!(),
        stops: &["<|im_end|>"],
    },
    ChatFamily {
        name: "llama3.1",
        models: "Llama 3.1 and 3.3 instruct (system block with knowledge and fixed date)",
        markers: &["<|start_header_id|>", "Cutting Knowledge Date: December 2023", "26 Jul 2024"],
        rejects: &["strftime_now"],
        template: concat!(
            "{{- $msgs := .Messages -}}\n",
            "<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n",
            "{{ if and .Messages (eq (index .Messages 0).Role \"system\") }}{{ (index .Messages 0).Content }}{{ $msgs = slice .Messages 1 }}{{ end }}<|eot_id|>\n",
            llama3_turns!()
        ),
        stops: &["<|eot_id|>", "<|eom_id|>"],
    },
    ChatFamily {
        name: "llama3",
        models: "Llama 3 instruct",
        markers: &["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"],
        rejects: &["Cutting Knowledge", "tools"],
        template: concat!("{{- $msgs := .Messages }}\n", llama3_turns!()),
        stops: &["<|eot_id|>"],
    },
    ChatFamily {
        name: "phi3.5",
        models: "Phi-3.5-mini, Phi-3 (revisions with a system role)",
        markers: &["<|system|>\n", "<|user|>\n", "<|assistant|>\n", "<|end|>"],
        rejects: &[],
        template: concat!(
            "{{- range $i, $_ := .Messages }}\n",
            last_of_messages!(),
            "\n{{- if eq .Role \"system\" }}{{ if .Content }}<|system|>\n",
            "{{ .Content }}<|end|>\n",
            "{{ end }}\n",
            "{{- else if eq .Role \"user\" }}<|user|>\n",
            "{{ .Content }}<|end|>\n",
            "{{ else if eq .Role \"assistant\" }}<|assistant|>\n",
            "{{ .Content }}{{ if not $last }}<|end|>\n",
            "{{ end }}\n",
            "{{- end }}\n",
            "{{- if and $last (ne .Role \"assistant\") }}<|assistant|>\n",
            "{{ end }}\n",
            "{{- end }}"
        ),
        stops: &["<|end|>"],
    },
    ChatFamily {
        name: "phi3",
        models: "Phi-3-mini/medium (early revisions: no system role, the assistant header after each user turn)",
        markers: &["<|user|>", "<|assistant|>", "<|end|>"],
        rejects: &["<|system|>"],
        template: concat!(
            "{{- range $i, $_ := .Messages }}\n",
            last_of_messages!(),
            "\n{{- if eq .Role \"user\" }}<|user|>\n",
            "{{ .Content }}<|end|>\n<|assistant|>\n",
            "{{ else if eq .Role \"assistant\" }}{{ .Content }}{{ if not $last }}<|end|>\n",
            "{{ end }}\n",
            "{{- end }}\n",
            "{{- end }}"
        ),
        stops: &["<|end|>"],
    },
    ChatFamily {
        name: "gemma3",
        models: "Gemma 3 instruct (the system prompt before the first user message)",
        markers: &["<start_of_turn>", "<end_of_turn>", "first_user_prefix"],
        rejects: &[],
        template: GEMMA,
        stops: &["<end_of_turn>"],
    },
    ChatFamily {
        name: "gemma",
        models: "Gemma and Gemma 2 instruct (no system role: ours goes before the first user message, as Gemma 3 does)",
        markers: &["<start_of_turn>", "<end_of_turn>"],
        rejects: &[],
        template: GEMMA,
        stops: &["<end_of_turn>"],
    },
    ChatFamily {
        name: "deepseek-coder",
        models: "DeepSeek-Coder instruct (### Instruction / ### Response, default system prompt)",
        markers: &["### Instruction:", "### Response:", "<|EOT|>"],
        rejects: &[],
        template: concat!(
            "{{- if not $.System }}You are an AI programming assistant, utilizing the Deepseek Coder model, developed by Deepseek Company, and you only answer questions related to computer science. For politically sensitive questions, security and privacy issues, and other non-computer science questions, you will refuse to answer\n",
            "{{ end }}\n",
            "{{- range $i, $_ := .Messages }}\n",
            last_of_messages!(),
            "\n{{- if eq .Role \"system\" }}{{ .Content }}\n",
            "{{- else if eq .Role \"user\" }}### Instruction:\n",
            "{{ .Content }}\n",
            "{{ else if eq .Role \"assistant\" }}### Response:\n",
            "{{ .Content }}{{ if not $last }}\n<|EOT|>\n",
            "{{ end }}\n",
            "{{- end }}\n",
            "{{- if and $last (ne .Role \"assistant\") }}### Response:\n",
            "{{ end }}\n",
            "{{- end }}"
        ),
        stops: &["<|EOT|>"],
    },
    ChatFamily {
        name: "llama2",
        models: "Llama 2 chat, CodeLlama instruct ([INST] with <<SYS>> inside the first user turn)",
        markers: &["[INST]", "<<SYS>>", "system_message"],
        rejects: &[],
        template: concat!(
            "{{- $sys := false }}{{ $msgs := .Messages }}\n",
            "{{- if and .Messages (eq (index .Messages 0).Role \"system\") }}{{ $sys = (index .Messages 0).Content }}{{ $msgs = slice .Messages 1 }}{{ end }}\n",
            "{{- range $i, $_ := $msgs }}\n",
            "{{- $last := eq (len (slice $msgs $i)) 1 }}\n",
            "{{- if eq .Role \"user\" }}{{ if $i }}@BOS@{{ end }}[INST] {{ if and (eq $i 0) $sys }}<<SYS>>\n",
            "{{ $sys }}\n<</SYS>>\n\n",
            "{{ end }}{{ .Content }} [/INST]\n",
            "{{- else if eq .Role \"assistant\" }} {{ .Content }}{{ if not $last }} @EOS@{{ end }}\n",
            "{{- end }}\n",
            "{{- end }}"
        ),
        stops: &[],
    },
    ChatFamily {
        name: "inst-sys",
        models: "[INST] turns with a separate <<SYS>> block before them (the test fixtures' template)",
        markers: &["[INST]", "<<SYS>>"],
        rejects: &["system_message"],
        template: concat!(
            "{{- range $i, $_ := .Messages }}\n",
            last_of_messages!(),
            "\n{{- if eq .Role \"system\" }}<<SYS>>\n",
            "{{ .Content }}\n<</SYS>>\n\n",
            "{{ else if eq .Role \"user\" }}[INST] {{ .Content }} [/INST]\n",
            "{{- else }} {{ .Content }}{{ if not $last }}@EOS@{{ end }}\n",
            "{{- end }}\n",
            "{{- end }}"
        ),
        stops: &[],
    },
    ChatFamily {
        name: "mistral-nemo",
        models: "Mistral-Nemo, Mistral-Large-2407 and other v3-tekken templates (system before the last user message)",
        markers: &["[INST]", "[AVAILABLE_TOOLS]", "\"[INST]\" + system_message + \"\\n\\n\""],
        rejects: &[],
        template: concat!(
            "{{- range $i, $_ := .Messages }}\n",
            last_of_messages!(),
            "\n{{- if eq .Role \"user\" }}[INST]{{ if and $last $.System }}{{ $.System }}\n\n",
            "{{ end }}{{ .Content }}[/INST]\n",
            "{{- else if eq .Role \"assistant\" }}{{ .Content }}{{ if not $last }}@EOS@{{ end }}\n",
            "{{- end }}\n",
            "{{- end }}"
        ),
        stops: &[],
    },
    ChatFamily {
        name: "mistral",
        models: "Mistral-7B-Instruct v0.1/v0.2 (no system role: ours goes before the first user message)",
        markers: &["[INST]", "[/INST]"],
        rejects: &["[AVAILABLE_TOOLS]", "[SYSTEM_PROMPT]", "system_message"],
        template: concat!(
            "{{- range $i, $_ := .Messages }}\n",
            last_of_messages!(),
            "\n{{- if eq .Role \"user\" }}[INST] {{ if and $.System (eq $i 1) }}{{ $.System }}\n\n",
            "{{ end }}{{ .Content }} [/INST]\n",
            "{{- else if eq .Role \"assistant\" }}{{ .Content }}{{ if not $last }}@EOS@{{ end }}\n",
            "{{- end }}\n",
            "{{- end }}"
        ),
        stops: &[],
    },
];

/// The family of a Jinja chat template, if we know it.
pub fn family_for(jinja: &str) -> Option<&'static ChatFamily> {
    FAMILIES.iter().find(|f| f.markers.iter().all(|m| jinja.contains(m)) && !f.rejects.iter().any(|r| jinja.contains(r)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ollama's Modelfile parser ends a `"""` value at the first `"""`, and has no escapes.
    #[test]
    fn templates_fit_in_a_triple_quoted_modelfile_value() {
        for f in FAMILIES {
            assert!(!f.template.contains("\"\"\""), "{}: template contains \"\"\"", f.name);
            assert!(f.template.contains(".Messages"), "{}: Ollama runs templates without .Messages in its legacy mode", f.name);
        }
    }

    #[test]
    fn names_are_unique() {
        for (i, f) in FAMILIES.iter().enumerate() {
            assert!(FAMILIES[..i].iter().all(|g| g.name != f.name), "{} twice", f.name);
        }
    }
}
