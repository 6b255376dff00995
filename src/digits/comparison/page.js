// The comparison page's only script, inlined into the page: sort the runs table by a column.
// Every cell carries its sort key in data-sort; numbers sort as numbers, missing values last.
"use strict";
document.querySelectorAll("table.runs").forEach((table) => {
  const headers = Array.from(table.tHead.rows[0].cells);
  headers.forEach((header, column) => {
    header.title = "Sort by " + header.textContent;
    header.addEventListener("click", () => {
      const ascending = header.getAttribute("aria-sort") !== "ascending";
      headers.forEach((other) => other.removeAttribute("aria-sort"));
      header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      const key = (row) => row.cells[column].dataset.sort;
      const rows = Array.from(table.tBodies[0].rows);
      rows.sort((a, b) => {
        const [x, y] = [key(a), key(b)];
        if (x === "" || y === "") return (x === "") - (y === "");
        const [u, v] = [Number(x), Number(y)];
        const order = Number.isNaN(u) || Number.isNaN(v) ? x.localeCompare(y) : u - v;
        return ascending ? order : -order;
      });
      rows.forEach((row) => table.tBodies[0].appendChild(row));
    });
  });
});
