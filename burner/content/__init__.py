"""What people read on the medium: README.TXT, INDEX.HTM."""
