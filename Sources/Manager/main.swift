import ManagerCore

await ManagerCommand.start()
