"""The language server: `setlist lsp` speaks LSP over stdio on top of the CLI's pipeline."""
