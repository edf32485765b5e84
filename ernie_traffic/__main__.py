from ernie_traffic.cli.main import main

main()
