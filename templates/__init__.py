"""Installed as the package data burner.templates (see pyproject.toml): the Jinja2 templates of
a volume's human-readable files and the viewer's static files. Found through
burner.content.render.templates_dir()."""
