"""Writers for the media burner produces: optical drives, USB sticks, image folders."""
