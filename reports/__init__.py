"""Renderers that read run directories (Markdown, LaTeX, HTML, plots); never import torch."""
