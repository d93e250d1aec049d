"""The Discord adapter: gateway events and slash commands -> answers as Discord messages."""
