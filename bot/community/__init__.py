"""The community record: questions asked in a server -> stored rows, gaps and reports."""
