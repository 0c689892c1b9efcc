"""The command line: one module per command; app.py parses and maps errors to exit codes."""
