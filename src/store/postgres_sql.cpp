#include "store/postgres_sql.hpp"

#include <cctype>
#include <regex>

namespace ecash::store::detail {
namespace {

bool word_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}

// Whether `word` stands at i as a whole word, in any case.
bool word_at(std::string_view sql, std::size_t i, std::string_view word) {
  if (i + word.size() > sql.size()) return false;
  if (i > 0 && word_char(sql[i - 1])) return false;
  if (i + word.size() < sql.size() && word_char(sql[i + word.size()])) return false;
  for (std::size_t k = 0; k < word.size(); ++k) {
    if (std::toupper(static_cast<unsigned char>(sql[i + k])) != word[k]) return false;
  }
  return true;
}

// Where the word after the one ending at i starts (sql.size() at the end).
std::size_t next_word(std::string_view sql, std::size_t i) {
  while (i < sql.size() && std::isspace(static_cast<unsigned char>(sql[i]))) ++i;
  return i;
}

// SQLite's guard trigger, the one kind the stores use: BEFORE UPDATE|DELETE|INSERT ON table BEGIN
// SELECT RAISE(ABORT, 'why'); END. PostgreSQL's is a function and a trigger that calls it; the
// refusal is an integrity violation (class 23), as SQLite's RAISE(ABORT) is a constraint's.
std::string guard_trigger(std::string_view sql) {
  static const std::regex guard(
      R"(\s*CREATE\s+TRIGGER\s+(\w+)\s+(BEFORE|AFTER)\s+(UPDATE|DELETE|INSERT)\s+ON\s+(\w+)\s+)"
      R"(BEGIN\s+SELECT\s+RAISE\s*\(\s*ABORT\s*,\s*'([^']*)'\s*\)\s*;\s*END\s*)",
      std::regex::icase);
  std::match_results<std::string_view::const_iterator> m;
  if (!std::regex_match(sql.begin(), sql.end(), m, guard)) return "";
  const std::string name = m[1], when = m[2], event = m[3], table = m[4], why = m[5];
  return "CREATE FUNCTION " + name + "_guard() RETURNS trigger LANGUAGE plpgsql AS $guard$ BEGIN " +
         "RAISE EXCEPTION '" + why + "' USING ERRCODE = '23000'; END $guard$;" + "CREATE TRIGGER " +
         name + " " + when + " " + event + " ON " + table + " FOR EACH ROW EXECUTE FUNCTION " +
         name + "_guard()";
}

// Whether piece opens a trigger whose body has not reached its END yet.
bool unfinished_trigger(std::string_view piece) {
  const std::size_t create = next_word(piece, 0);
  if (!word_at(piece, create, "CREATE") ||
      !word_at(piece, next_word(piece, create + 6), "TRIGGER")) {
    return false;
  }
  while (!piece.empty() && std::isspace(static_cast<unsigned char>(piece.back()))) {
    piece.remove_suffix(1);
  }
  return piece.size() < 3 || !word_at(piece, piece.size() - 3, "END");
}

// One statement (no `;` outside quotes) translated.
std::string translate(std::string_view sql) {
  const std::size_t first = next_word(sql, 0);
  if (word_at(sql, first, "PRAGMA")) return "";
  const bool ddl = word_at(sql, first, "CREATE") || word_at(sql, first, "ALTER");
  bool ignore = false;
  std::string out;
  out.reserve(sql.size() + 16);
  int placeholder = 0;
  for (std::size_t i = 0; i < sql.size();) {
    const char c = sql[i];
    if (c == '\'' || c == '"') {  // quoted text or a quoted name: copied as it is
      const std::size_t end = sql.find(c, i + 1);
      const std::size_t stop = end == std::string_view::npos ? sql.size() : end + 1;
      out.append(sql.substr(i, stop - i));
      i = stop;
    } else if (c == '?') {
      out += '$' + std::to_string(++placeholder);
      ++i;
    } else if (word_at(sql, i, "INSERT") && word_at(sql, next_word(sql, i + 6), "OR") &&
               word_at(sql, next_word(sql, next_word(sql, i + 6) + 2), "IGNORE")) {
      ignore = true;
      out += "INSERT";
      i = next_word(sql, next_word(sql, i + 6) + 2) + 6;
    } else if (word_at(sql, i, "GLOB")) {
      // SQLite's GLOB as LIKE: its * as %. (The stores' patterns hold no ? or [ ], and LIKE's _
      // in them only widens a match to ids of the same shape.)
      const std::size_t operand = next_word(sql, i + 4);
      if (operand < sql.size() && sql[operand] == '\'') {
        const std::size_t end = sql.find('\'', operand + 1);
        std::string pattern(sql.substr(
            operand, end == std::string_view::npos ? std::string_view::npos : end + 1 - operand));
        for (auto& ch : pattern) ch = ch == '*' ? '%' : ch;
        out += "LIKE " + pattern;
        i = operand + pattern.size();
      } else if (operand < sql.size() && sql[operand] == '?') {
        out += "LIKE replace($" + std::to_string(++placeholder) + ", '*', '%')";
        i = operand + 1;
      } else {
        out += "GLOB";  // not a form the stores use: PostgreSQL will say so
        i += 4;
      }
    } else if (ddl && word_at(sql, i, "INTEGER") &&
               word_at(sql, next_word(sql, i + 7), "PRIMARY")) {
      out += "BIGSERIAL";  // SQLite's INTEGER PRIMARY KEY numbers the rows it is not given
      i += 7;
    } else if (ddl && word_at(sql, i, "INTEGER")) {
      out += "BIGINT";
      i += 7;
    } else if (ddl && word_at(sql, i, "TEXT") && !word_at(sql, next_word(sql, i + 4), "COLLATE")) {
      // Compared and ordered by their bytes, as SQLite does (whatever the cluster's collation),
      // and so a prefix's range (id >= ? AND id < ?) can use the index.
      out += "TEXT COLLATE \"C\"";
      i += 4;
    } else if (ddl && word_at(sql, i, "BLOB")) {
      out += "BYTEA";
      i += 4;
    } else {
      out += c;
      ++i;
    }
  }
  if (ignore) {
    while (!out.empty() && std::isspace(static_cast<unsigned char>(out.back()))) out.pop_back();
    out += " ON CONFLICT DO NOTHING";
  }
  return out;
}

}  // namespace

std::string to_postgres(std::string_view sql) {
  std::string out;
  std::size_t start = 0;
  char quote = 0;
  for (std::size_t i = 0; i <= sql.size(); ++i) {
    const char c = i < sql.size() ? sql[i] : ';';
    if (quote != 0) {
      if (c == quote) quote = 0;
      continue;
    }
    if (c == '\'' || c == '"') {
      quote = c;
    } else if (c == ';' && i < sql.size() && unfinished_trigger(sql.substr(start, i - start))) {
      continue;  // a trigger's body holds statements: it ends at END;
    } else if (c == ';') {
      const auto piece = sql.substr(start, i - start);
      const auto trigger = guard_trigger(piece);
      auto statement = trigger.empty() ? translate(piece) : trigger;
      if (statement.find_first_not_of(" \t\r\n") != std::string::npos) {
        out += statement;
        if (i < sql.size()) out += ';';
      }
      start = i + 1;
    }
  }
  return out;
}

}  // namespace ecash::store::detail
