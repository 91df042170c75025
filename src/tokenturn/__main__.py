from tokenturn.cli import main

main()
