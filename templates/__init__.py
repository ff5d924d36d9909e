"""Jinja2 templates for partcfg's text outputs (shipped inside the wheel as ``partcfg.templates``)."""
