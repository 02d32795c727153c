// Renders an Ollama TEMPLATE (a Go text/template) for chat conversations the way Ollama's
// template.Execute does for templates that use .Messages: consecutive messages of one role are
// merged with "\n\n", .System is all system messages joined with "\n\n", .Messages keeps every
// message, .Response is empty; the template runs with missingkey=zero and Ollama's function
// names. Used by tests/chat_templates.rs; written for ggufkit (Ollama's semantics read from its
// template/template.go, no code copied).
//
// stdin:  {"template": "...", "cases": [{"messages": [{"role": "...", "content": "..."}], "think": false, "is_think_set": false}]}
// stdout: [{"text": "..."} | {"error": "..."}] (one per case)
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/template"
	"time"
)

type message struct {
	Role       string
	Content    string
	Thinking   string
	Images     []string
	ToolCalls  []any
	ToolName   string
	ToolCallID string
}

type input struct {
	Template string `json:"template"`
	Cases    []struct {
		Messages []struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"messages"`
		Think      bool `json:"think"`
		IsThinkSet bool `json:"is_think_set"`
	} `json:"cases"`
}

type result struct {
	Text  *string `json:"text,omitempty"`
	Error string  `json:"error,omitempty"`
}

var funcs = template.FuncMap{
	"json": func(v any) string {
		b, _ := json.Marshal(v)
		return string(b)
	},
	"currentDate":      func(args ...string) string { return time.Now().Format("2006-01-02") },
	"yesterdayDate":    func(args ...string) string { return time.Now().AddDate(0, 0, -1).Format("2006-01-02") },
	"toTypeScriptType": func(v any) string { return "any" },
}

func main() {
	var in input
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		fmt.Fprintln(os.Stderr, "reading input:", err)
		os.Exit(2)
	}
	if !strings.Contains(in.Template, ".Messages") {
		fmt.Fprintln(os.Stderr, "the template does not use .Messages: Ollama would run it in its legacy prompt/response mode, which this renderer does not model")
		os.Exit(2)
	}
	tmpl, err := template.New("").Option("missingkey=zero").Funcs(funcs).Parse(in.Template)
	if err != nil {
		fmt.Fprintln(os.Stderr, "parsing the template:", err)
		os.Exit(2)
	}
	var out []result
	for _, c := range in.Cases {
		var systems []string
		var msgs []*message
		for _, m := range c.Messages {
			if m.Role == "system" {
				systems = append(systems, m.Content)
			}
			if n := len(msgs); n > 0 && msgs[n-1].Role == m.Role && m.Role != "tool" {
				msgs[n-1].Content += "\n\n" + m.Content
			} else {
				msgs = append(msgs, &message{Role: m.Role, Content: m.Content})
			}
		}
		var b bytes.Buffer
		err := tmpl.Execute(&b, map[string]any{
			"System":     strings.Join(systems, "\n\n"),
			"Messages":   msgs,
			"Tools":      nil,
			"Response":   "",
			"Think":      c.Think,
			"ThinkLevel": "",
			"IsThinkSet": c.IsThinkSet,
		})
		if err != nil {
			out = append(out, result{Error: err.Error()})
		} else {
			s := b.String()
			out = append(out, result{Text: &s})
		}
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, "writing output:", err)
		os.Exit(2)
	}
}
