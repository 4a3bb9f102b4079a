"""The station web app (`burner web`, DESIGN.md section 9)."""
