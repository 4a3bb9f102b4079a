from burner.cli import main

main()
