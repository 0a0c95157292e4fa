from newsletter.cli.app import main

main()
