from kyodo.cli import main

main()
