// table_cmd.h: the `tft forecast-table` and `tft backtest` commands (argument parsing, files).
#ifndef TFT_CLI_TABLE_CMD_H
#define TFT_CLI_TABLE_CMD_H
// argc/argv after the command name; returns the process exit status (0, 1 error, 2 usage).
int tft_cmd_forecast_table(int argc, char **argv);
int tft_cmd_backtest(int argc, char **argv);
#endif
