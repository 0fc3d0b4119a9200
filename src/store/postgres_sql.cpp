#include "store/postgres_sql.hpp"

#include <cctype>

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
    } else if (ddl && word_at(sql, i, "INTEGER")) {
      out += "BIGINT";
      i += 7;
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
    } else if (c == ';') {
      auto statement = translate(sql.substr(start, i - start));
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
